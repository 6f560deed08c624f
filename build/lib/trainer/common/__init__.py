"""What every task's trainer shares: callbacks, class weights, fitting, reports, export, example files."""
