"""Names the command line offers, without importing PyTorch: architectures (input shape, classes), neurons,
weight modes, training methods, datasets."""

NEURONS = ("empf", "lif")
WEIGHT_MODES = ("binary", "ternary", "full")
METHODS = ("online", "online-random", "stbp")
DATASETS = ("digits", "mnist", "mnist1d", "cifar10", "cifar100", "synthetic", "dvs_synthetic")

# architecture → (input shape C×H×W or (F,), default number of classes)
ARCHS = {
    "digits_mlp": ((1, 8, 8), 10),
    "digits_cnn": ((1, 8, 8), 10),
    "mnist1d_mlp": ((1, 1, 40), 10),  # a 1-D signal as a 1×40 image
    "mnist1d_cnn": ((1, 1, 40), 10),  # 1×k convolutions over the 1×40 signal
    "mnist_cnn": ((1, 28, 28), 10),
    "vgg11": ((3, 32, 32), 10),
    "vgg_snn_dvs": ((2, 48, 48), 10),
    "resnet18": ((3, 32, 32), 10),
    "resnet19": ((3, 32, 32), 10),
    "resnet34": ((3, 224, 224), 1000),
}

MAX_CLASSES = 100000  # classifier outputs: 2 … MAX_CLASSES
