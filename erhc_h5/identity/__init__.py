"""identity domain: provider interfaces and their sandbox, HTTP and null implementations."""
from erhc_h5.identity.base import (  # noqa: F401
    CheckResult,
    FaceStart,
    ProviderUnavailable,
    SmsReceipt,
)
from erhc_h5.identity.factory import Providers, get_providers, sandbox_last_code, set_providers  # noqa: F401
