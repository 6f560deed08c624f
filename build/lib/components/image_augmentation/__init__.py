"""ImageAugmentation component: the visible augmentation step of the image pipeline."""
