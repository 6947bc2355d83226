//! libtorch is linked and works: tensors, a forward and backward pass through a
//! multi-task model, an optimiser step, and a report of the CUDA situation.

use polyrec_rank::{DeviceReport, DeviceRequest, MultiTaskModel, SharedBottom, SharedBottomConfig};
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
    let x = Tensor::f_randn([256, 6], (Kind::Float, device))?;
    // Two tasks with a learnable relation to the inputs: a binary label and a real value.
    let y_like = x
        .f_sum_dim_intlist(1, false, Kind::Float)?
        .f_gt(0.0)?
        .f_to_kind(Kind::Float)?;
    let y_value = x
        .f_narrow(1, 0, 3)?
        .f_sum_dim_intlist(1, false, Kind::Float)?
        * 0.5;

    let vs = nn::VarStore::new(device);
    let model = SharedBottom::new(
        &vs.root(),
        6,
        &["like", "value"],
        &SharedBottomConfig::default(),
    )?;
    let mut opt = nn::Adam::default().build(&vs, 1e-2)?;
    let loss_of = |m: &SharedBottom| -> Result<Tensor, tch::TchError> {
        let out = m.forward_t(&x, true);
        let bce = out[0].f_binary_cross_entropy_with_logits::<Tensor>(
            &y_like,
            None,
            None,
            tch::Reduction::Mean,
        )?;
        let mse = out[1].f_mse_loss(&y_value, tch::Reduction::Mean)?;
        bce.f_add(&mse)
    };

    let first = loss_of(&model)?;
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
        let loss = loss_of(&model)?;
        opt.zero_grad();
        loss.backward();
        opt.step();
    }
    let last = loss_of(&model)?.double_value(&[]);
    eprintln!("loss {initial:.4} -> {last:.4} on {device:?}");
    assert!(
        last < initial * 0.5,
        "training did not reduce the loss: {initial} -> {last}"
    );
    Ok(())
}
