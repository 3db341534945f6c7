"""harness: declarative LLM fine-tuning with numbers you can trust.

The pipeline reads top to bottom: spec -> data -> train -> search -> evaluate -> report.
"""

__version__ = "0.1.0"
