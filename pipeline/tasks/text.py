"""The text task: `<root>/<class>/<document>`, Chollet's text recipes (bag of n-grams or a
sequence model)."""

from pipeline.tasks import Demo, Task, register
from schemas.sections import text as sections


def summary_lines(summary: dict) -> list:
  coverage = summary.get("embeddings")
  if not coverage:
    return []
  return [f"Pretrained embeddings cover {coverage.get('hits')} of "
          f"{coverage.get('hits', 0) + coverage.get('misses', 0)} vocabulary tokens"]


def model_card(config) -> dict:
  trainer, ingest = config.text_trainer, config.text_ingest
  return {
      "model": {"model": trainer.model, "max_tokens": trainer.max_tokens,
                "ngrams": trainer.ngrams if trainer.model == "bow" else None,
                "sequence_length": trainer.sequence_length if trainer.model != "bow" else None,
                "embeddings": trainer.embeddings},
      "limits": [
          "Documents are raw bytes decoded by their BOM (UTF-8/16/32)"
          + (f" or as {ingest.fallback_encoding}" if ingest.fallback_encoding else "")
          + "; binary, empty or undecodable documents are refused, as ingestion rejects them.",
          f"Documents over {ingest.max_chars} characters are "
          + ("cut to that length" if ingest.on_too_long == "truncate" else "refused") + ".",
          "Words outside the training vocabulary count as one unknown token; the model "
          "knows only the classes above and gives one of them for any document."]}


TASK = register(Task(
    name="text",
    example_gen="components.text_example_gen.component.TextExampleGen",
    schema_file="text_schema.pbtxt",
    run_fn="trainer.text.text_trainer.run_fn",
    ingest_section="text_ingest",
    trainer_sections=("text_trainer", "text_ingest"),
    trainer_section="text_trainer",
    gates=("classes", "tokens"),
    warm_start=True,
    flags=sections.FLAGS,
    data_root="<root>/<class>/<documents> (or span-<N>/ or YYYY-MM-DD/ drops of them)",
    demos={"bbc_news": Demo("demo_data/bbc_news", "work/bbc_news",
                            "pipeline/text_demo_config.py", "pipeline.demo_data.bbc_news",
                            about="the BBC News corpus, bag of 1-2-grams + dense head")},
    summary_lines=f"{__name__}.summary_lines",
    model_card=f"{__name__}.model_card"))
