"""Training-side tools for the speaker model: export CAM++ to ONNX, tune the clustering."""
