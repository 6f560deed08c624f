"""Scheduling an already-compiled pipeline on Vertex AI Pipelines or on Kubeflow Pipelines.

Nothing here compiles: `python -m pipeline compile --target vertex|kfp` writes the file, and
these functions hand it to a scheduler that runs it on a cron.

Vertex AI (`schedule_vertex`): the `--target vertex` file is a PipelineJob JSON
(`{"pipelineSpec": ..., "runtimeConfig": {"gcsOutputDirectory": ...}}`). It becomes an
`aiplatform.PipelineJob` and `job.create_schedule(...)` makes a PipelineJobSchedule with at
most one run at a time. The cron is the standard five fields (minute hour day month weekday),
optionally prefixed by `TZ=Area/City ` (or `CRON_TZ=`). The pipeline root defaults to the
file's `gcsOutputDirectory`; `pipeline_root` overrides it (a gs:// URI). Credentials are
Application Default Credentials (`gcloud auth application-default login`, or
GOOGLE_APPLICATION_CREDENTIALS naming a service-account key). Returns the schedule's resource
name, `projects/P/locations/R/schedules/ID`.

Kubeflow Pipelines (`schedule_kfp`): the `--target kfp` file is a pipeline-spec YAML
(`pipelineInfo`, `root`, ...). `kfp.Client(host=...)` gets or creates the experiment and
`create_recurring_run(...)` uploads the spec with the recurring run (max_concurrency=1). KFP
takes a six-field cron (seconds first): a five-field cron gets "0 " prepended. The pipeline-spec
YAML carries no pipeline root, so it is passed on every recurring run (kfp 2.5's
`create_recurring_run(pipeline_root=...)` puts it in the run's runtime config). The host is
probed first (`<host>/apis/v2beta1/healthz`, 10 s) so an unreachable one fails at once rather
than hanging. Returns the recurring run's id.

Every failure is a ToolkitError saying what was tried, against which project or host, the
underlying error on one line, and what to check.
"""

import json
import os
import re
import socket
import urllib.error
import urllib.request
import warnings
from typing import Any, Dict, Optional

import pipeline_config

VERTEX_COMPILE = "python -m pipeline compile --target vertex"
KFP_COMPILE = "python -m pipeline compile --target kfp"
KFP_HEALTHZ_PATH = "/apis/v2beta1/healthz"
PROBE_TIMEOUT_S = 10
# Seconds the Vertex create-schedule request may take before it gives up.
VERTEX_REQUEST_TIMEOUT_S = 120.0
PORT_FORWARD = "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80"

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,#-]+$")
_CRON_TZ = re.compile(r"^(?:CRON_)?TZ=[A-Za-z0-9_+\-/]+$")


def _error(message: str) -> pipeline_config.ToolkitError:
  return pipeline_config.ToolkitError(message)


def _cron_fields(expr: str, what: str) -> list:
  if not isinstance(expr, str) or not expr.strip():
    raise _error(f"The {what} cron expression is empty. Pass one such as '0 3 * * *' "
                 "(every day at 03:00).")
  fields = expr.split()
  bad = [f for f in fields if not _CRON_FIELD.match(f)]
  if bad:
    raise _error(f"The {what} cron expression {expr!r} has a field that is not cron syntax: "
                 f"{bad[0]!r}. Fields hold digits, names (MON, JAN), '*', '?', '/', ',', '-'.")
  return fields


def six_field_cron(expr: str) -> str:
  """The KFP form (seconds first) of a five-field ("0 3 * * *") or six-field cron."""
  words = expr.split() if isinstance(expr, str) else []
  if words and "TZ=" in words[0]:
    raise _error(f"KFP recurring runs take no time-zone prefix: {expr!r}. Pass the cron in the "
                 "KFP cluster's time zone (usually UTC) without 'TZ=...'.")
  fields = _cron_fields(expr, "KFP")
  if len(fields) == 5:
    return " ".join(["0"] + fields)
  if len(fields) == 6:
    return " ".join(fields)
  raise _error(f"The KFP cron expression {expr!r} has {len(fields)} fields. Pass five "
               "(minute hour day month weekday, e.g. '0 3 * * *') or six with seconds first "
               "(e.g. '0 0 3 * * *').")


def vertex_cron(expr: str) -> str:
  """The Vertex form of a cron: five fields, optionally after a `TZ=Area/City ` prefix."""
  words = expr.split() if isinstance(expr, str) else []
  prefix = []
  if words and "TZ=" in words[0]:
    if not _CRON_TZ.match(words[0]):
      raise _error(f"The Vertex cron expression {expr!r} starts with a malformed time zone "
                   f"{words[0]!r}. Write it as 'TZ=America/New_York 0 3 * * *'.")
    prefix = [words[0]]
    expr = " ".join(words[1:])
  fields = _cron_fields(expr, "Vertex")
  if len(fields) != 5:
    hint = (" Vertex has no seconds field: drop the first one." if len(fields) == 6 else "")
    raise _error(f"The Vertex cron expression {' '.join(prefix + [expr])!r} has {len(fields)} "
                 "fields; Vertex takes five (minute hour day month weekday, e.g. '0 3 * * *'), "
                 f"optionally after a 'TZ=Area/City ' prefix.{hint}")
  return " ".join(prefix + fields)


def _read_file(path: str, target: str, compile_cmd: str) -> str:
  if not path or not os.path.isfile(path):
    raise _error(f"No compiled {target} pipeline file at {path!r}. Produce it with "
                 f"`{compile_cmd}` and pass the path it prints.")
  try:
    with open(path, encoding="utf-8") as f:
      return f.read()
  except (OSError, UnicodeDecodeError) as e:
    raise _error(f"Cannot read the compiled {target} pipeline file {path}: {_one_line(e)}. "
                 f"Produce it again with `{compile_cmd}`.") from None


def load_vertex_template(path: str) -> Dict[str, Any]:
  """The PipelineJob JSON that `compile --target vertex` writes; ToolkitError if it is not one."""
  text = _read_file(path, "Vertex", VERTEX_COMPILE)
  try:
    doc = json.loads(text)
  except ValueError:
    doc = None
  if not isinstance(doc, dict) or not isinstance(doc.get("pipelineSpec"), dict):
    raise _error(f"{path} is not a Vertex PipelineJob JSON (a JSON object with a "
                 "'pipelineSpec' key). `schedule_vertex` takes the file that "
                 f"`{VERTEX_COMPILE}` writes; a `--target kfp` YAML goes to `schedule_kfp`.")
  return doc


def load_kfp_package(path: str) -> Dict[str, Any]:
  """The pipeline-spec YAML that `compile --target kfp` writes; ToolkitError if it is not one."""
  import yaml
  text = _read_file(path, "KFP", KFP_COMPILE)
  if not path.endswith((".yaml", ".yml")):
    raise _error(f"{path} is not a .yaml/.yml file; kfp's client reads a pipeline package by "
                 f"its extension. `schedule_kfp` takes the YAML that `{KFP_COMPILE}` writes.")
  try:
    docs = list(yaml.safe_load_all(text))
  except yaml.YAMLError:
    docs = []
  spec = docs[0] if docs else None
  if isinstance(spec, dict) and "pipelineSpec" in spec:
    raise _error(f"{path} is a Vertex PipelineJob, not a KFP pipeline spec. Schedule it with "
                 f"`schedule_vertex`, or produce the KFP YAML with `{KFP_COMPILE}`.")
  if not isinstance(spec, dict) or not {"pipelineInfo", "root"} <= set(spec):
    raise _error(f"{path} is not a KFP pipeline-spec YAML (a mapping with 'pipelineInfo' and "
                 f"'root' keys). `schedule_kfp` takes the file that `{KFP_COMPILE}` writes.")
  return spec


def _pipeline_name(spec: Dict[str, Any], default: str) -> str:
  info = spec.get("pipelineInfo")
  name = info.get("name") if isinstance(info, dict) else None
  return str(name) if name else default


def vertex_job_kwargs(template_path: str, *, project: str, region: str, display_name: str,
                      pipeline_root: Optional[str] = None) -> Dict[str, Any]:
  """Keyword arguments of `aiplatform.PipelineJob(...)`."""
  return {
      "display_name": display_name,
      "template_path": template_path,
      "pipeline_root": pipeline_root,    # None: the file's runtimeConfig.gcsOutputDirectory
      "project": project,
      "location": region,
      "enable_caching": None,            # the compile-time caching settings
  }


def vertex_schedule_kwargs(*, cron: str, display_name: str,
                           service_account: Optional[str] = None) -> Dict[str, Any]:
  """Keyword arguments of `PipelineJob.create_schedule(...)`; `cron` must be valid for Vertex."""
  return {
      "cron": cron,
      "display_name": display_name,
      "max_concurrent_run_count": 1,
      "max_run_count": None,             # runs until the schedule is paused or deleted
      "service_account": service_account,
      "create_request_timeout": VERTEX_REQUEST_TIMEOUT_S,
  }


def kfp_recurring_run_kwargs(package_path: str, *, experiment_id: str, job_name: str,
                             cron: str, pipeline_root: str,
                             params: Optional[dict] = None) -> Dict[str, Any]:
  """Keyword arguments of kfp 2.5's `Client.create_recurring_run(...)`; `cron` any accepted form."""
  return {
      "experiment_id": experiment_id,
      "job_name": job_name,
      "cron_expression": six_field_cron(cron),
      "pipeline_package_path": package_path,
      "params": dict(params or {}),
      "max_concurrency": 1,
      "enabled": True,
      # The pipeline-spec YAML carries no pipeline root; kfp puts this one in the runtime config.
      "pipeline_root": pipeline_root,
  }


def _one_line(error: BaseException) -> str:
  status = getattr(error, "status", None)
  reason = getattr(error, "reason", None)
  if isinstance(status, int) and isinstance(reason, str):      # kfp_server_api.ApiException
    text = f"HTTP {status} {reason}"
  else:
    text = " ".join(str(error).split()) or repr(error)
  if len(text) > 300:
    text = text[:297] + "..."
  return f"{type(error).__name__}: {text}"


def _kfp_url(host: str) -> str:
  """The host as kfp.Client reads it: https:// when no scheme is given, no trailing slash."""
  host = host.strip()
  if not host.startswith("http"):
    host = "https://" + host
  return host.rstrip("/")


def probe_kfp_host(host: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
  """Fails fast (ToolkitError) when nothing answers at the KFP host.

  kfp.Client's own calls have no timeout (a host that drops packets hangs them) and it retries
  its health check five times, 5 s apart, on an error status. Any HTTP answer but 404 counts as
  reachable here (401/403 may pass with the client's stored cookies); 404 means the URL serves
  no KFP v2 API.
  """
  url = _kfp_url(host) + KFP_HEALTHZ_PATH
  opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # as kfp: no env proxy
  try:
    with opener.open(url, timeout=timeout_s):
      return
  except urllib.error.HTTPError as e:
    if e.code != 404:
      return
    raise _error(f"The KFP host {host} answered 404 at {url}: it serves no Kubeflow Pipelines v2 "
                 "API there. Check the host URL (a full Kubeflow deployment may need its path "
                 f"prefix, e.g. http://HOST/pipeline) and that the backend is KFP 2.x; locally, "
                 f"`{PORT_FORWARD}` and use http://localhost:8080 as the host.") from None
  except (urllib.error.URLError, socket.timeout, OSError, ValueError) as e:
    raise _error(f"Cannot reach the KFP host {host} ({url}, {timeout_s:g} s timeout): "
                 f"{_one_line(e)}. Check the host URL and that the KFP API is up; for a local "
                 f"cluster run `{PORT_FORWARD}` and use http://localhost:8080 as the host.") from None


def schedule_vertex(template_path: str, *, project: str, region: str, cron: str,
                    pipeline_root: Optional[str] = None, display_name: Optional[str] = None,
                    service_account: Optional[str] = None) -> str:
  """Schedules the `compile --target vertex` file on Vertex AI; returns the schedule's name."""
  cron = vertex_cron(cron)
  if not project or not region:
    raise _error("Scheduling on Vertex AI needs a GCP project and a region "
                 f"(received project={project!r}, region={region!r}).")
  if pipeline_root is not None and not pipeline_root.startswith("gs://"):
    raise _error(f"The Vertex pipeline root must be a gs:// URI. Received: {pipeline_root!r}.")
  spec = load_vertex_template(template_path)
  display_name = display_name or _pipeline_name(spec["pipelineSpec"], "toolkit-pipeline")
  tried = (f"Creating a Vertex AI pipeline schedule ({cron!r}) for {template_path} in project "
           f"{project}, region {region}")
  # Locked dependencies (tfx brings google-cloud-aiplatform); imported here because they
  # are slow to import.
  from google.api_core import exceptions as api_exceptions  # pylint: disable=import-outside-toplevel
  from google.auth import exceptions as auth_exceptions  # pylint: disable=import-outside-toplevel
  from google.cloud import aiplatform  # pylint: disable=import-outside-toplevel
  credentials_hint = ("Check the credentials: run `gcloud auth application-default login`, "
                      "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file.")
  try:
    job = aiplatform.PipelineJob(**vertex_job_kwargs(
        template_path, project=project, region=region, display_name=display_name,
        pipeline_root=pipeline_root))
    schedule = job.create_schedule(**vertex_schedule_kwargs(
        cron=cron, display_name=display_name, service_account=service_account))
    return schedule.resource_name
  except pipeline_config.ToolkitError:
    raise
  except auth_exceptions.DefaultCredentialsError as e:
    raise _error(f"{tried} failed: no Google Cloud credentials ({_one_line(e)}). "
                 f"{credentials_hint}") from None
  except auth_exceptions.GoogleAuthError as e:
    raise _error(f"{tried} failed: the Google Cloud credentials did not work "
                 f"({_one_line(e)}). {credentials_hint}") from None
  except api_exceptions.GoogleAPIError as e:
    raise _error(f"{tried} failed: {_one_line(e)}. Check the project id and region, that the "
                 "Vertex AI API (aiplatform.googleapis.com) is enabled, that the account may "
                 "create schedules (and act as the service account, if one is given), and the "
                 f"network. {credentials_hint}") from None
  except Exception as e:   # anything else the client raises: still one clear paragraph
    raise _error(f"{tried} failed: {_one_line(e)}. Check the project, the region, the "
                 f"compiled file and the network. {credentials_hint}") from None


def schedule_kfp(package_path: str, *, host: str, cron: str,
                 pipeline_root: Optional[str] = None,
                 experiment: str = "Default", job_name: Optional[str] = None,
                 params: Optional[dict] = None) -> str:
  """Schedules the `compile --target kfp` file on Kubeflow Pipelines; returns the run's id.

  `pipeline_root` defaults to the spec's defaultPipelineRoot (`compile --pipeline-root`); it
  is passed with every recurring run, since a spec from another compiler may carry none."""
  six_field_cron(cron)
  if not host or not host.strip():
    raise _error("Scheduling on KFP needs the KFP host URL, e.g. http://localhost:8080 after "
                 f"`{PORT_FORWARD}`.")
  spec = load_kfp_package(package_path)
  pipeline_root = pipeline_root or spec.get("defaultPipelineRoot")
  if not pipeline_root or "://" not in pipeline_root:
    raise _error("Scheduling on KFP needs the pipeline root as a URI the cluster can write "
                 f"(gs://..., s3://..., minio://...). Received: {pipeline_root!r}: pass "
                 "--pipeline-root, or compile with --pipeline-root gs://...")
  job_name = job_name or _pipeline_name(spec, "toolkit-pipeline") + "-schedule"
  probe_kfp_host(host)
  tried = (f"Creating a KFP recurring run {job_name!r} (experiment {experiment!r}) for "
           f"{package_path} on the KFP host {host}")
  # Locked dependencies (tfx[kfp]); imported here because they are slow to import.
  import kfp  # pylint: disable=import-outside-toplevel
  import kfp_server_api  # pylint: disable=import-outside-toplevel
  import requests  # pylint: disable=import-outside-toplevel
  import urllib3  # pylint: disable=import-outside-toplevel
  request_errors = (requests.exceptions.RequestException,)
  host_hint = (f"Check the host URL and that the KFP API answers there; for a local cluster run "
               f"`{PORT_FORWARD}` and use http://localhost:8080 as the host.")
  try:
    with warnings.catch_warnings():
      warnings.filterwarnings("ignore", category=FutureWarning, module="kfp")
      client = kfp.Client(host=host)
    experiment_id = client.create_experiment(name=experiment).experiment_id
    run = client.create_recurring_run(**kfp_recurring_run_kwargs(
        package_path, experiment_id=experiment_id, job_name=job_name, cron=cron,
        pipeline_root=pipeline_root, params=params))
    return run.recurring_run_id
  except pipeline_config.ToolkitError:
    raise
  except kfp_server_api.ApiException as e:
    if e.status in (401, 403):
      raise _error(f"{tried} failed: {_one_line(e)}. The KFP API refused the request: check the "
                   "namespace and authentication (a port-forward to ml-pipeline-ui, "
                   f"`{PORT_FORWARD}`, needs none).") from None
    raise _error(f"{tried} failed: {_one_line(e)}. {host_hint}") from None
  except (urllib3.exceptions.HTTPError, TimeoutError, ConnectionError, *request_errors) as e:
    raise _error(f"{tried} failed: cannot talk to the KFP API ({_one_line(e)}). "
                 f"{host_hint}") from None
  except Exception as e:   # anything else the client raises: still one clear paragraph
    raise _error(f"{tried} failed: {_one_line(e)}. {host_hint} If the host answers, check the "
                 f"compiled file (`{KFP_COMPILE}`).") from None
