"""GM-VQ for codecframe."""
