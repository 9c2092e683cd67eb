"""From record files to model-input batches: framing, records, features, batches, synthetic data, download, inspection."""
