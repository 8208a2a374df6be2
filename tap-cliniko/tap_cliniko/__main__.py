"""Run the tap as `python -m tap_cliniko`."""

from tap_cliniko.tap import TapCliniko

TapCliniko.cli()
