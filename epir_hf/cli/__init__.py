"""The `epir-hf` command line: what the pipelines do, on files, without writing Python."""
