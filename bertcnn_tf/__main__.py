from bertcnn_tf.cli import main

raise SystemExit(main())
