"""`python -m epir_hf.cli COMMAND ...`, the same as `epir-hf COMMAND ...`: the form `accelerate launch -m epir_hf.cli`
starts on each process."""

from .main import cli

cli()
