"""Metadata and text extraction by MIME type, in worker processes that can be stopped.

``registry`` maps MIME types to extractors; ``worker.extract_file`` reads, verifies and parses
one file; ``pool.ExtractionPool`` runs it under a timeout and a memory cap.
"""

from ingestor.extractors.model import (
    ContentChanged,
    Extraction,
    ExtractionFailed,
    ExtractOptions,
)
from ingestor.extractors.pool import ExtractionPool
from ingestor.extractors.sniff import sniff_mime
from ingestor.extractors.worker import extract_file, extract_if_safe_in_process

__all__ = [
    "ContentChanged",
    "ExtractOptions",
    "Extraction",
    "ExtractionFailed",
    "ExtractionPool",
    "extract_file",
    "extract_if_safe_in_process",
    "sniff_mime",
]
