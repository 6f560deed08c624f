# The toolkit's container image for Kubeflow Pipelines and Vertex AI Pipelines.
#
# Every step of a compiled pipeline runs in this image: the spec that
# `python -m pipeline compile --target vertex|kfp --image IMAGE` writes names IMAGE as the
# container of every component (executors, the Trainer's run_fn, schemas are read from the
# toolkit installed here), so build and push it first, then compile with --image set to the
# pushed tag. Rebuild and push whenever the code changes.
#
# Build and push (Artifact Registry; `gcloud auth configure-docker REGION-docker.pkg.dev` once):
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/toolkit:TAG . && \
#     docker push REGION-docker.pkg.dev/PROJECT/REPO/toolkit:TAG
#
# The base is TFX's own 1.16.0 image: a Deep Learning VM image (TensorFlow 2.16, Python 3.10
# under /opt/conda) with TFX 1.16.0 installed and Beam's SDK worker boot at /opt/apache/beam.
# Its ENTRYPOINT (the Beam boot) is kept: KubeflowV2DagRunner gives each step an explicit
# command (`python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...`).
FROM gcr.io/tfx-oss-public/tfx:1.16.0

WORKDIR /toolkit

# The resolved, pinned set first, in its own layer: it changes less often than the code. The lock
# pins tfx==1.16.0 itself, matching the base; pip only swaps the packages whose versions differ.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir -r requirements.lock

# The toolkit itself; every dependency came from the lock above. setuptools and wheel are pinned
# in the lock, so the build uses those rather than fetching its own. The check runs from / so it
# imports the installed copy, not the sources in /toolkit.
COPY . .
RUN python -m pip install --no-cache-dir --no-deps --no-build-isolation . && \
    cd / && python -c "import os, pipeline_config, pipeline, components, trainer, schemas, tfx; \
assert os.path.exists(schemas.schema_path('image_schema.pbtxt')); \
print('toolkit installed; tfx', tfx.__version__)"
