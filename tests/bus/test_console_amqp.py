"""The console request/reply of ``os-getConsoleOutput`` over real RabbitMQ: the API
process's own ``reply.<random>`` topic, an agent in another connection."""

from __future__ import annotations

from stockyard.api.compute.console import ConsoleReplies
from stockyard.bus.contract import ConsoleRequest
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.fake import FakeDriver
from tests.bus.conftest import BusFactory


async def test_console_round_trip_over_rabbitmq(amqp_bus: BusFactory) -> None:
    api_bus = await amqp_bus()
    agent_bus = await amqp_bus()
    driver = FakeDriver("h0")
    spec = InstanceSpec(uuid="u1", hostname="vm", image_ref="img")
    await driver.spawn(spec)
    agent = ComputeAgent("h0", driver, agent_bus)
    await agent.subscribe()
    replies = ConsoleReplies(api_bus)
    request = ConsoleRequest(instance=spec, length=1, reply_to="-")
    try:
        reply = await replies.ask("h0", request, 20)
        assert reply is not None and reply.ok, reply
        # The last line of the log, as Nova's tail: no trailing newline.
        assert reply.output == "[stockyard-fake] vm booted (boot #1)"
        missing = request.model_copy(update={"instance": InstanceSpec(uuid="nope")})
        reply = await replies.ask("h0", missing, 20)
        assert reply is not None and not reply.ok and reply.code == 404
    finally:
        await agent.stop()
