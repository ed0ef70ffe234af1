"""DataParallel's seed model in PyTorch: the same names and shapes as model.pt and model.safetensors.

    import torch, seednet
    model = seednet.SeedNet()
    model.load_state_dict(torch.load("model.pt"))
    model.eval()  # inputs: N x 1 x 28 x 28, pixels / 255 then (x - 0.1307) / 0.3081; outputs: log-probabilities
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SeedNet(nn.Module):
    def __init__(self, channels=16, classes=10, dropout=0.1):
        super().__init__()
        for i in range(1, 7):  # registered in this order so that state_dict() lists what Shared/Model/SeedNet.cs does
            setattr(self, f"conv{i}", nn.Conv2d(1 if i == 1 else channels, channels, 3, padding=1))
            setattr(self, f"bn{i}", nn.BatchNorm2d(channels))
        self.conv7 = nn.Conv2d(channels, classes, 1)
        self.fc = nn.Linear(classes * 3 * 3, classes)
        self.pool, self.drop = nn.AvgPool2d(2), nn.Dropout(dropout)

    def forward(self, x):
        for i in range(1, 7):  # Conv3x3 -> ReLU -> BatchNorm, and after every second one AvgPool2 -> Dropout
            x = getattr(self, f"bn{i}")(F.relu(getattr(self, f"conv{i}")(x)))
            if i % 2 == 0:
                x = self.drop(self.pool(x))
        return F.log_softmax(self.fc(torch.flatten(F.relu(self.conv7(x)), 1)), dim=1)
