"""dynamo-ft-runner: fault-tolerance test runner for NVIDIA Dynamo inference graphs."""

__version__ = "0.1.0"
