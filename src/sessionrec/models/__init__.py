"""Built-in models; importing this package registers them."""

from sessionrec.models import (
    itemknn,  # noqa: F401
    pop,  # noqa: F401
    sknn,  # noqa: F401
    spop,  # noqa: F401
    srgnn,  # noqa: F401
    sriem,  # noqa: F401
    stan,  # noqa: F401
    tagnn,  # noqa: F401
    vsknn,  # noqa: F401
    vstan,  # noqa: F401
)
