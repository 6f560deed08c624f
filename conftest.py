"""Makes every test process use Keras 2 (tf_keras) before TensorFlow can be imported, and
runs the longest test files first.

scripts/run_tests.sh gives each of the two xdist workers whole files (--dist loadfile), in
collection order. Alphabetical order left a long file for the end, with one worker idle
while the other ran it; longest first keeps both cores busy to the end. HEAVY_FIRST is that
order, from the file times of a full run on a 2-core machine (minutes, roughly); files not
named keep their order after these.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HEAVY_FIRST = (
    "test_pipeline_e2e.py",            # 10
    "test_trainer.py",                 # 7
    "test_kubeflow.py",                # 4.5
    "test_drops_e2e.py",               # 3
    "test_distribution.py",            # 2.5
    "test_text_pipeline_e2e.py",       # 2.5
    "test_timeseries_drops_e2e.py",    # 2
    "test_text_drops_e2e.py",          # 2
    "test_timeseries_pipeline_e2e.py", # 2
    "test_text_trainer.py",            # 2
    "test_use_model.py",               # 1.5
    "test_portability.py",             # 1.5
    "test_outside_series.py",          # 1.5
    "test_task_module.py",             # 1
)


def pytest_collection_modifyitems(session, config, items):  # pylint: disable=unused-argument
  rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
  items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))
