//! libtorch is linked and works: a forward and backward pass through a multi-task
//! architecture, optimiser steps that reduce the loss, and a report of the CUDA situation.

use polyrec_rank::heads::{HeadKind, TaskHead};
use polyrec_rank::models::NetInput;
use polyrec_rank::{DeviceReport, DeviceRequest, ModelConfig};
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

#[test]
fn forward_backward_and_cuda_report() -> Result<(), Box<dyn std::error::Error>> {
    let report = DeviceReport::probe();
    eprintln!("libtorch device report: {report}");
    assert_eq!(report.cuda_available, tch::Cuda::is_available());
    assert!(report.cpu_threads >= 1);

    let device = DeviceRequest::Auto.resolve()?;
    tch::manual_seed(7);
    let x = Tensor::f_randn([256, 6, 1], (Kind::Float, device))?;
    let flat = x.view([256, 6]);
    let y_like = flat
        .sum_dim_intlist(1, false, Kind::Float)
        .gt(0.0)
        .to_kind(Kind::Float);
    let y_value = flat.narrow(1, 0, 3).sum_dim_intlist(1, false, Kind::Float) * 0.5;
    let heads = [
        TaskHead {
            name: "like".into(),
            kind: HeadKind::Binary,
            user_level: false,
        },
        TaskHead {
            name: "value".into(),
            kind: HeadKind::Regression {
                mean: 0.0,
                std: 1.0,
                range: None,
            },
            user_level: false,
        },
    ];
    let vs = nn::VarStore::new(device);
    let model =
        ModelConfig::from_name("shared_bottom")?.build(&vs.root(), 6, 1, &heads, 1, false)?;
    let scenario = Tensor::zeros([256], (Kind::Int64, device));
    let mut opt = nn::Adam::default().build(&vs, 1e-2)?;
    let loss_of = || {
        let out = model.forward(
            &NetInput {
                fields: &x,
                scenario: &scenario,
                scenario_vectors: None,
                pairwise: false,
            },
            true,
        );
        let ones = Tensor::ones([256], (Kind::Float, device));
        heads[0].loss(&out[0].view([-1]), &y_like, &ones)
            + heads[1].loss(&out[1].view([-1]), &y_value, &ones)
    };
    let first = loss_of();
    let initial = first.double_value(&[]);
    opt.zero_grad();
    first.backward();
    let grad_norm: f64 = vs
        .trainable_variables()
        .iter()
        .map(|v| v.grad().norm().double_value(&[]))
        .sum();
    assert!(grad_norm > 0.0, "backward produced no gradient");
    opt.step();
    for _ in 0..150 {
        let loss = loss_of();
        opt.zero_grad();
        loss.backward();
        opt.step();
    }
    let last = loss_of().double_value(&[]);
    eprintln!("loss {initial:.4} -> {last:.4} on {device:?}");
    assert!(
        last < initial * 0.5,
        "training did not reduce the loss: {initial} -> {last}"
    );
    Ok(())
}
