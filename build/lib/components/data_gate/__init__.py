"""DataGate component: quality gates that stop the pipeline before training."""
