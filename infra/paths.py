"""Where the CDK app finds the project's code assets, independent of the working directory."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
LAYERS_DIR = PROJECT_ROOT / "layers"
