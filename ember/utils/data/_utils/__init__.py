"""DataLoader internals: collation, worker processes and fetchers (paths mirror torch.utils.data._utils)."""
