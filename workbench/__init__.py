"""Quantization Workbench: convert, quantize, emulate and measure models for mobile runtimes."""

__version__ = "0.1.0"
