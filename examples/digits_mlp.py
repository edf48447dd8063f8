"""Train an MLP on scikit-learn's bundled handwritten digits and print the test accuracy (PyTorch code, ember run).

    python examples/digits_mlp.py        # needs: pip install -e ".[train]"
"""
import ember as torch
from ember import nn
from ember.datasets import Digits
from ember.utils.data import DataLoader

torch.manual_seed(0)
train_loader = DataLoader(Digits(train=True), batch_size=64, shuffle=True)
test_loader = DataLoader(Digits(train=False), batch_size=256)

model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

for epoch in range(15):
    model.train()
    total = 0.0
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
    print(f'epoch {epoch + 1:2d}  train loss {total / len(train_loader.dataset):.4f}')

model.eval()
correct = 0
with torch.no_grad():
    for x, y in test_loader:
        correct += (model(x).argmax(dim=1) == y).sum().item()
print(f'test accuracy: {correct / len(test_loader.dataset):.2%}')
