"""All tables; importing this package registers them on ``Base.metadata``."""

from stockyard.db.models.compute import (
    AddressAllocation,
    Aggregate,
    AggregateHost,
    Allocation,
    Flavor,
    FlavorAccess,
    Host,
    KeyPair,
    ProjectLock,
    Quota,
    Region,
    ServerGroup,
    ServerGroupMember,
)
from stockyard.db.models.identity import (
    Domain,
    Group,
    GroupMember,
    GroupRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    SystemRoleAssignment,
    Token,
    User,
)
from stockyard.db.models.image import Image
from stockyard.db.models.instances import (
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
)
from stockyard.db.models.stock import StockRequest

__all__ = [
    "AddressAllocation",
    "Aggregate",
    "AggregateHost",
    "Allocation",
    "Domain",
    "Flavor",
    "FlavorAccess",
    "Group",
    "GroupMember",
    "GroupRoleAssignment",
    "Host",
    "Image",
    "Instance",
    "InstanceAction",
    "InstanceActionEvent",
    "InstanceFault",
    "KeyPair",
    "Project",
    "ProjectLock",
    "Quota",
    "Region",
    "Role",
    "RoleAssignment",
    "ServerGroup",
    "ServerGroupMember",
    "StockRequest",
    "SystemRoleAssignment",
    "Token",
    "User",
]
