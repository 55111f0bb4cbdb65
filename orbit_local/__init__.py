"""orbit-local: the shared transport behind the LangChain and LlamaIndex integrations.

Imports only httpx and pydantic. The public names are re-exported here; everything else is
an implementation detail.
"""

from orbit_local.backends.client import AsyncChatClient, ChatClient, ContextOverflowWarning, pick_default_model
from orbit_local.facts.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionDroppedError,
    ContextOverflowError,
    EndpointNotFoundError,
    ModelDownloadError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotLoadedError,
    OrbitLocalError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerBusyError,
    ServerError,
    ServerNotRunningError,
    StreamInterruptedError,
    StreamTimeoutError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import ProviderProfile, get_provider, list_providers, register
from orbit_local.facts.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    GenerationParams,
    Message,
    ModelInfo,
    ModelProgress,
    RankedDocument,
    RerankResult,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    Usage,
)
from orbit_local.features.config_file import ConfigError, OrbitConfig, ServerBlock, load_config
from orbit_local.features.model_admin import AsyncModelManager, ModelManager
from orbit_local.net.discovery import FoundServer, aidentify, discover, identify
from orbit_local.protocols.accumulate import StreamAccumulator
from orbit_local.protocols.params import ModelFallbackWarning

__version__ = "0.1.0"

__all__ = [
    "AsyncChatClient",
    "AuthenticationError",
    "BadRequestError",
    "ChatClient",
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "ConfigError",
    "ConnectionDroppedError",
    "EndpointNotFoundError",
    "RateLimitError",
    "StreamTimeoutError",
    "FoundServer",
    "OrbitConfig",
    "ServerBlock",
    "aidentify",
    "discover",
    "identify",
    "load_config",
    "ContextOverflowError",
    "ContextOverflowWarning",
    "ModelFallbackWarning",
    "EmbeddingResult",
    "GenerationParams",
    "Message",
    "ModelInfo",
    "RankedDocument",
    "RerankResult",
    "ModelDownloadError",
    "ModelLoadError",
    "ModelManager",
    "AsyncModelManager",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ModelProgress",
    "OrbitLocalError",
    "ProtocolError",
    "ProviderProfile",
    "RequestTimeoutError",
    "ServerBusyError",
    "ServerError",
    "ServerNotRunningError",
    "StreamAccumulator",
    "StreamInterruptedError",
    "ToolCall",
    "ToolCallChunk",
    "ToolSpec",
    "UnsupportedFeatureError",
    "Usage",
    "__version__",
    "get_provider",
    "list_providers",
    "pick_default_model",
    "register",
]
