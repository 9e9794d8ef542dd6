"""Lectures 09-10 and assignment a4: object detection.

    boxes         teaching versions of IoU, NMS, anchors and the focal loss (a4 asks for the real ones)
    localization  localisation as regression, sliding windows, OverFeat, proposals
    priors        YOLOv2's anchor priors: k-means on box sizes with the distance 1 - IoU
    voc           PASCAL VOC annotations read into the shapes scenes' DetectionData
    widgets       IoUNMSPlayground, AnchorView, FocalLossView
"""
