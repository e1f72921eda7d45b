"""The sharded-job engine every mode runs on (datatrove's shape: one executor, many pipelines).

The engine owns the job lock, the deterministic shard plan, resume from completion markers, the settings
fingerprint, the Ray actor pool (or a run inside the driver process), per-shard result parts and logs, row-level
progress, retries of environment failures, compaction into ``results.parquet`` and ``summary.json``, signals and exit
codes. A mode supplies its input as rows, a stage built once per worker (``pa.Table -> pa.Table``), the settings that
change its outputs, and any extra compaction (see :mod:`pipelines.engine.mode`).
"""

from pipelines.engine.config import EngineConfig
from pipelines.engine.errors import InputError, RetryableError, classify
from pipelines.engine.mode import Mode, Prepared, Sink, StageContext, StageSpec
from pipelines.engine.runner import require_shared, run_sharded_job


__all__ = [
    "EngineConfig",
    "InputError",
    "Mode",
    "Prepared",
    "RetryableError",
    "Sink",
    "StageContext",
    "StageSpec",
    "classify",
    "require_shared",
    "run_sharded_job",
]
