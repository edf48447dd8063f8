"""ember.datasets: Digits (bundled with scikit-learn), MNIST and FashionMNIST from local IDX files."""
