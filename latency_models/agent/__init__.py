"""A measurement agent: `nas agent` on the device serves timings over token-authenticated HTTP; AgentClient
measures there from the machine that searches. The server (Werkzeug) is imported only by `serve`."""

from latency_models.agent.client import AgentClient, AgentLink
from latency_models.agent.protocol import (API_VERSION, TOKEN_ENV, AgentAuthError, AgentError, AgentLimits,
                                           AgentRequestError, AgentTiming, AgentUnavailable, DeviceInfo,
                                           ProtocolError, ReferenceTiming)

__all__ = ["API_VERSION", "TOKEN_ENV", "AgentAuthError", "AgentClient", "AgentError", "AgentLink", "AgentLimits",
           "AgentRequestError", "AgentTiming", "AgentUnavailable", "DeviceInfo", "ProtocolError", "ReferenceTiming"]
