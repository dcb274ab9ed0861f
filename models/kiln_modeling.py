"""kiln's classification heads for HF transformers (trust_remote_code).

kiln writes this file next to config.json when a model pools its encoder
output by mean or max (config "pooling"), and points config.json's auto_map
at it, so that

    AutoModelForSequenceClassification.from_pretrained(dir, trust_remote_code=True)

computes the logits kiln trained. Without trust_remote_code, transformers
loads its own *ForSequenceClassification, which always starts the head from
the first token ([CLS]/<s>) and gives different logits.

kiln's rule, for every architecture: the pooling replaces the first-token
selection; the rest of the head is HF's (BERT: pooler dense+tanh, dropout,
classifier; RoBERTa/ELECTRA: dropout, dense, tanh/gelu, dropout, out_proj;
DistilBERT: pre_classifier, ReLU, dropout, classifier). Mean is the
attention-mask-weighted average; max fills padded positions with -1e9.
"""
import torch
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import (BertForSequenceClassification, DistilBertForSequenceClassification,
                          ElectraForSequenceClassification, RobertaForSequenceClassification)
from transformers.modeling_outputs import SequenceClassifierOutput


def pool(hidden, attention_mask, pooling):
    """[B, S, H] -> [B, H] by the config's pooling (cls, mean or max)."""
    if pooling in (None, "", "cls"):
        return hidden[:, 0]
    if attention_mask is None:
        attention_mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if pooling == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if pooling == "max":
        return hidden.masked_fill(m == 0, -1e9).amax(1)
    raise ValueError(f"config pooling {pooling!r}: kiln supports cls, mean and max")


def loss_for(config, logits, labels):
    """HF's *ForSequenceClassification loss, by problem_type."""
    if labels is None:
        return None
    n = config.num_labels
    if config.problem_type is None:
        if n == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        return MSELoss()(logits.squeeze(), labels.squeeze()) if n == 1 else MSELoss()(logits, labels)
    if config.problem_type == "single_label_classification":
        return CrossEntropyLoss()(logits.view(-1, n), labels.view(-1))
    return BCEWithLogitsLoss()(logits, labels)


def output(config, logits, labels, enc, return_dict):
    loss = loss_for(config, logits, labels)
    if return_dict is False:
        out = (logits,) + tuple(x for x in (enc.hidden_states, enc.attentions) if x is not None)
        return ((loss,) + out) if loss is not None else out
    return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=enc.hidden_states,
                                    attentions=enc.attentions)


class KilnHead:
    """forward for every architecture: the encoder, kiln's pooling, then
    the rest of the architecture's HF head (head_from)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                head_mask=None, inputs_embeds=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        kw = dict(attention_mask=attention_mask, head_mask=head_mask, inputs_embeds=inputs_embeds,
                  output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                  return_dict=True)
        if self.config.model_type != "distilbert":  # DistilBERT has neither
            kw.update(token_type_ids=token_type_ids, position_ids=position_ids)
        enc = getattr(self, self.base_model_prefix)(input_ids, **kw)
        feat = pool(enc.last_hidden_state, attention_mask, getattr(self.config, "pooling", "cls"))
        return output(self.config, self.head_from(feat), labels, enc, return_dict)


class KilnBertForSequenceClassification(KilnHead, BertForSequenceClassification):
    def head_from(self, feat):
        pooled = self.bert.pooler.activation(self.bert.pooler.dense(feat))
        return self.classifier(self.dropout(pooled))


class KilnRobertaForSequenceClassification(KilnHead, RobertaForSequenceClassification):
    def head_from(self, feat):
        return self.classifier(feat.unsqueeze(1))  # the head reads position 0


class KilnElectraForSequenceClassification(KilnHead, ElectraForSequenceClassification):
    def head_from(self, feat):
        return self.classifier(feat.unsqueeze(1))  # the head reads position 0


class KilnDistilBertForSequenceClassification(KilnHead, DistilBertForSequenceClassification):
    def head_from(self, feat):
        return self.classifier(self.dropout(torch.relu(self.pre_classifier(feat))))
