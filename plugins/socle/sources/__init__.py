"""Source connectors: one module per source, each exposing ``ingest(...) -> IngestResult``.

``facebook``, ``x``, ``events`` read APIs through ``socle.http``; ``inbox_files`` reads the
CSV drops; ``opendata`` downloads public reference files. All land through ``socle.landing``.
"""
