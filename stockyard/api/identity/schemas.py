"""Request bodies of the identity API. Unknown keys are ignored, as Keystone stores or
drops them; every known key is type-checked so a bad value is a 400 naming it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, StrictBool, model_validator

Name = Annotated[str, Field(min_length=1, max_length=255)]
# Keystone's limit for domain, project and group names (users and roles allow 255).
ShortName = Annotated[str, Field(min_length=1, max_length=64)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=65535)]
Password = Annotated[str, Field(max_length=4096)]
Tags = list[Annotated[str, Field(min_length=1, max_length=255)]]


class _Patch(BaseModel):
    """A partial update: keys in ``not_null`` may be omitted but not set to null."""

    not_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in cls.not_null:
                if key in data and data[key] is None:
                    raise ValueError(f"{key} may not be null")
        return data

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# ---- auth ----


class DomainRef(BaseModel):
    id: Id | None = None
    name: Name | None = None


class PasswordUser(BaseModel):
    id: Id | None = None
    name: Name | None = None
    domain: DomainRef | None = None
    password: Password


class PasswordMethod(BaseModel):
    user: PasswordUser


class TokenMethod(BaseModel):
    id: str | None = None


class AppCredUser(BaseModel):
    id: Id | None = None
    name: Name | None = None
    domain: DomainRef | None = None


class AppCredMethod(BaseModel):
    id: Id | None = None
    name: Name | None = None
    user: AppCredUser | None = None
    secret: Password


class Identity(BaseModel):
    methods: Annotated[list[str], Field(min_length=1)]
    password: PasswordMethod | None = None
    token: TokenMethod | None = None
    application_credential: AppCredMethod | None = None


class ProjectRef(BaseModel):
    id: Id | None = None
    name: Name | None = None
    domain: DomainRef | None = None


class Scope(BaseModel):
    project: ProjectRef | None = None
    domain: DomainRef | None = None
    system: dict[str, Any] | None = None


class Auth(BaseModel):
    identity: Identity
    scope: Scope | Literal["unscoped"] | None = None


class AuthRequest(BaseModel):
    auth: Auth


# ---- domains ----


class DomainCreate(BaseModel):
    name: ShortName
    description: Text = ""
    enabled: StrictBool = True


class DomainCreateRequest(BaseModel):
    domain: DomainCreate


class DomainUpdate(_Patch):
    not_null: ClassVar[tuple[str, ...]] = ("name", "enabled")
    name: ShortName | None = None
    description: Text | None = None
    enabled: StrictBool | None = None


class DomainUpdateRequest(BaseModel):
    domain: DomainUpdate


# ---- projects ----


class ProjectCreate(BaseModel):
    name: ShortName
    domain_id: Id | None = None
    parent_id: Id | None = None
    description: Text = ""
    enabled: StrictBool = True
    is_domain: StrictBool = False
    tags: Tags = []


class ProjectCreateRequest(BaseModel):
    project: ProjectCreate


class ProjectUpdate(_Patch):
    not_null: ClassVar[tuple[str, ...]] = ("name", "enabled")
    name: ShortName | None = None
    description: Text | None = None
    enabled: StrictBool | None = None
    tags: Tags | None = None


class ProjectUpdateRequest(BaseModel):
    project: ProjectUpdate


# ---- users ----


class UserCreate(BaseModel):
    name: Name
    domain_id: Id | None = None
    password: Password | None = None
    enabled: StrictBool = True
    default_project_id: Id | None = None
    email: Annotated[str, Field(max_length=255)] | None = None
    description: Text = ""


class UserCreateRequest(BaseModel):
    user: UserCreate


class UserUpdate(_Patch):
    not_null: ClassVar[tuple[str, ...]] = ("name", "enabled")
    name: Name | None = None
    password: Password | None = None
    enabled: StrictBool | None = None
    default_project_id: Id | None = None
    email: Annotated[str, Field(max_length=255)] | None = None
    description: Text | None = None


class UserUpdateRequest(BaseModel):
    user: UserUpdate


class PasswordChange(BaseModel):
    password: Password
    original_password: Password


class PasswordChangeRequest(BaseModel):
    user: PasswordChange


# ---- groups ----


class GroupCreate(BaseModel):
    name: ShortName
    domain_id: Id | None = None
    description: Text = ""


class GroupCreateRequest(BaseModel):
    group: GroupCreate


class GroupUpdate(_Patch):
    not_null: ClassVar[tuple[str, ...]] = ("name",)
    name: ShortName | None = None
    description: Text | None = None


class GroupUpdateRequest(BaseModel):
    group: GroupUpdate


# ---- roles ----


class RoleCreate(BaseModel):
    name: Name
    description: Text = ""
    domain_id: None = None


class RoleCreateRequest(BaseModel):
    role: RoleCreate


class RoleUpdate(_Patch):
    not_null = ("name",)
    name: Name | None = None
    description: Text | None = None


class RoleUpdateRequest(BaseModel):
    role: RoleUpdate


# ---- application credentials ----


class RoleRef(BaseModel):
    id: Id | None = None
    name: Name | None = None


class AppCredCreate(BaseModel):
    name: Name
    description: Text | None = None
    secret: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    expires_at: datetime | None = None
    roles: list[RoleRef] | None = None
    unrestricted: StrictBool = False
    access_rules: list[dict[str, Any]] | None = None


class AppCredCreateRequest(BaseModel):
    application_credential: AppCredCreate
