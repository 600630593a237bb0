"""The FIT writer: a small encoder and synthetic training histories (demo, tests, benchmarks).

It imports nothing of StrideGuard's; ingest/ only reads FIT files.
"""
