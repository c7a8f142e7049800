"""The executing layer: carries out the plans core/ computes (build, launch, cluster, publish, doctor, bootstrap)."""
