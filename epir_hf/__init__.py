"""EPIR for Hugging Face transformers: importing this package registers every EPIR class
with the Auto classes and the pipeline registry."""
