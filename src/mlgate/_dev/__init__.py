"""Internal: the demonstration and development kit, not public API (top layer, beside the CLI).

* :mod:`.stack`: the embedded local stack (moto S3 over TLS, ``mlflow server``, Prefect server on
  127.0.0.1) behind ``mlgate stack`` and ``mlgate demo``;
* :mod:`.demo`: the five demonstration cases;
* :mod:`.samples`: inert clean and poisoned sample model folders (``mlgate samples``);
* :mod:`.examples`: an example training function (``mlgate._dev.examples.train_sklearn:train``).

Names here may change without notice; the old paths (``mlgate.stack``, ``mlgate.samples``,
``mlgate.examples``) re-export them for one release.
"""
