"""The image task's Trainer: transfer learning from an ImageNet backbone (Chollet ch. 8-9)."""
