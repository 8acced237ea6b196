from bertcnn_tf.models.bert_cnn_classifier import BertCNNClassifier

__all__ = ["BertCNNClassifier"]
