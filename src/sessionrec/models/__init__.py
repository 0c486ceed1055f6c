"""Built-in models; importing this package registers them."""

from sessionrec.models import (
    i3gn,  # noqa: F401
    itemknn,  # noqa: F401
    pop,  # noqa: F401
    sknn,  # noqa: F401
    spop,  # noqa: F401
    srgnn,  # noqa: F401
    sriem,  # noqa: F401
    tagnn,  # noqa: F401
)
