"""Data layer: sources → raw snapshot (ingest), splits and the fitted preprocessor (prepare).

Kept free of imports so `import mtlops.data.<module>` loads only what that module needs.
"""
