"""Train a small CNN on scikit-learn's bundled 8x8 handwritten digits and print the test accuracy.

    python examples/digits_cnn.py        # needs: pip install -e ".[train]"
"""
import ember as torch
import ember.nn as nn
import ember.nn.functional as F
from ember.datasets import Digits
from ember.utils.data import DataLoader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)   # 16 x 8 x 8
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)  # 32 x 4 x 4 after pooling
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


torch.manual_seed(0)
train_loader = DataLoader(Digits(train=True), batch_size=32, shuffle=True)
test_loader = DataLoader(Digits(train=False), batch_size=256)
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for epoch in range(12):
    model.train()
    total = 0.0
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
    print(f'epoch {epoch + 1:2d}  train loss {total / len(train_loader.dataset):.4f}')

model.eval()
correct = 0
with torch.no_grad():
    for x, y in test_loader:
        correct += (model(x).argmax(1) == y).sum().item()
print(f'test accuracy: {correct / len(test_loader.dataset):.2%}')
