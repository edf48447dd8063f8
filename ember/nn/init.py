"""ember.nn.init: in-place weight initialisers as in torch.nn.init."""
