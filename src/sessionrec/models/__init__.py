"""Built-in models; importing this package registers them."""

from sessionrec.models import srgnn  # noqa: F401
from sessionrec.models import pop  # noqa: F401
from sessionrec.models import spop  # noqa: F401
from sessionrec.models import itemknn  # noqa: F401
from sessionrec.models import sknn  # noqa: F401
