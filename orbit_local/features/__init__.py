"""Built on the backends: the settings every adapter class shares and the adapter kit,
``inference.yaml``, model management and ``orbit-local doctor``. Imports every layer below it."""
