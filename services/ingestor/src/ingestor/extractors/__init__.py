"""Metadata and text extraction by MIME type, in worker processes that can be stopped.

``registry`` maps MIME types to extractors; ``worker.extract_file`` reads, verifies and parses
one file; ``pool.ExtractionPool`` runs it under a timeout and a memory cap.
"""

from ingestor.extractors.model import ContentChanged, Extraction, ExtractionFailed
from ingestor.extractors.pool import ExtractionPool
from ingestor.extractors.sniff import sniff_mime
from ingestor.extractors.worker import extract_file

__all__ = [
    "ContentChanged",
    "Extraction",
    "ExtractionFailed",
    "ExtractionPool",
    "extract_file",
    "sniff_mime",
]
