"""ember.utils.data: Dataset, DataLoader and samplers, as torch.utils.data."""
