//! Image generators: latent noise (+ class, + constants) in, `[N, C, H, W]` or `[N, H, W, C]`
//! tensor (F32 or U8) out, image back.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};
use kiln_onnx::{ModelSession, RunClock};
use kiln_recipe::{
    ChannelLayout, Dim, ElementType, ImageContract, ImageLayout, ModelKind, ModelManifest,
};
use ort::value::{DynValue, Tensor};
use rayon::prelude::*;

use crate::art_palette::ArtPalettes;
use crate::noise::gaussian;

/// Generating an image failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The manifest does not describe an image generator.
    #[error("model {model:?} is not an image generator")]
    NotAnImageModel {
        /// Model name.
        model: String,
    },
    /// The requested size cannot be made by this model.
    #[error("model {model:?} cannot make {width}x{height}: {reason}")]
    Size {
        /// Model name.
        model: String,
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Why, and which sizes work.
        reason: String,
    },
    /// The recipe names a class the model does not have.
    #[error("model {model:?} has no class {class:?}: use one of {}", available.join(", "))]
    UnknownClass {
        /// Model name.
        model: String,
        /// The class asked for.
        class: String,
        /// The model's classes.
        available: Vec<String>,
    },
    /// ONNX Runtime failed while running the model.
    #[error("model {model:?} failed to run: {message}")]
    Run {
        /// Model name.
        model: String,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The model returned NaN or infinite values (a broken export or diverged training).
    #[error(
        "model {model:?} produced {count} non-finite values (NaN or infinity): the model is broken; re-export or retrain it"
    )]
    NonFinite {
        /// Model name.
        model: String,
        /// How many values were not finite.
        count: usize,
    },
}

/// Most output pixels one batched `session.run` makes (16 images of 256², 4 of 512², one of
/// 1024² or more): batches bound memory, and on CPU larger ones are slower per image
/// (`cargo bench -p kiln_gen --bench generators`: 256² textures take 92 ms each in batches of
/// 2–16, 150 ms in batches of 64).
pub const MAX_BATCH_PIXELS: u64 = 1024 * 1024;

/// Most images one batched `session.run` makes.
pub const MAX_BATCH: usize = 64;

/// What to generate: one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRequest {
    /// Seed of the latent noise.
    pub seed: u64,
    /// Width and height in pixels; `None` takes the model's fixed size.
    pub size: Option<(u32, u32)>,
    /// Class name; `None` takes the model's first class.
    pub class: Option<String>,
}

/// Runs an image-generator model described by its manifest.
#[derive(Debug)]
pub struct ImageGenerator {
    name: String,
    contract: ImageContract,
    latent_shape: Vec<Dim>,
    fixed_size: Option<(u32, u32)>,
    constants: Vec<Constant>,
    output_dtype: ElementType,
    session: Arc<ModelSession>,
    /// The model's art palettes (`ImageContract::palettes`), when it has them.
    palettes: Option<Arc<ArtPalettes>>,
    run_clock: RunClock,
}

/// An input fed the same value every run (see [`kiln_recipe::ConstantInput`]).
#[derive(Debug)]
struct Constant {
    name: String,
    dtype: ElementType,
    /// The declared shape.
    shape: Vec<Dim>,
    value: f64,
}

impl Constant {
    /// The constant for a batch of `batch`: a free first dimension is the batch, other free
    /// dimensions 1.
    fn tensor(&self, batch: usize) -> Result<DynValue, ort::Error> {
        let shape: Vec<i64> = self
            .shape
            .iter()
            .enumerate()
            .map(|(axis, dim)| match *dim {
                Dim::Fixed(size) => size,
                Dim::Free(_) if axis == 0 => batch as i64,
                Dim::Free(_) => 1,
            })
            .collect();
        kiln_onnx::filled_tensor(self.dtype, shape, self.value)
    }
}

impl ImageGenerator {
    /// Wraps a session whose graph was already checked against `manifest`.
    pub fn new(
        manifest: &ModelManifest,
        session: Arc<ModelSession>,
    ) -> Result<Self, GenerateError> {
        let ModelKind::ImageGenerator(contract) = &manifest.kind else {
            return Err(GenerateError::NotAnImageModel {
                model: manifest.name.clone(),
            });
        };
        let latent = manifest.input(&contract.latent);
        let output = manifest.output(&contract.output);
        let (Some(latent), Some(output)) = (latent, output) else {
            return Err(GenerateError::NotAnImageModel {
                model: manifest.name.clone(),
            });
        };
        let fixed = |dim: &Dim| match *dim {
            Dim::Fixed(size) => u32::try_from(size).ok(),
            Dim::Free(_) => None,
        };
        let (_, height_axis, width_axis) = contract.layout.axes();
        let fixed_size = fixed(&output.shape[width_axis]).zip(fixed(&output.shape[height_axis]));
        let constants = contract
            .constants
            .iter()
            .filter_map(|constant| {
                let spec = manifest.input(&constant.name)?;
                Some(Constant {
                    name: constant.name.clone(),
                    dtype: spec.dtype,
                    shape: spec.shape.clone(),
                    value: constant.value,
                })
            })
            .collect();
        Ok(Self {
            name: manifest.name.clone(),
            contract: contract.clone(),
            latent_shape: latent.shape.clone(),
            fixed_size,
            constants,
            output_dtype: output.dtype,
            session,
            palettes: None,
            run_clock: RunClock::default(),
        })
    }

    /// This generator with its model's art palettes: every image it makes has each pixel
    /// replaced by the nearest colour of its class's palette (see `ImageContract::palettes`).
    pub fn with_palettes(self, palettes: Arc<ArtPalettes>) -> Self {
        Self {
            palettes: Some(palettes),
            ..self
        }
    }

    /// This generator with the art palettes its manifest names (if any), read from beside
    /// `manifest_path`: for callers that load a model from its folder themselves, as benchmarks
    /// and tests do (the engine reads them with the model's other files). The error names the
    /// file and what is wrong.
    pub fn with_palettes_beside(self, manifest_path: &Path) -> Result<Self, String> {
        let Some(file) = &self.contract.palettes else {
            return Ok(self);
        };
        let path = manifest_path.with_file_name(file);
        let png = std::fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        let palettes = ArtPalettes::from_png(&png, &self.contract.classes)
            .map_err(|message| format!("{}: art palettes {message}", path.display()))?;
        Ok(self.with_palettes(Arc::new(palettes)))
    }

    /// Total time spent inside ONNX Runtime's `session.run` by this generator, so callers can
    /// tell inference from the pipeline's own overhead.
    pub fn run_time(&self) -> Duration {
        self.run_clock.total()
    }

    /// Output pixels per latent cell for models that make any size; `None` for fixed-size models.
    pub fn stride(&self) -> Option<u32> {
        self.contract.stride
    }

    /// The session's model.
    pub fn session(&self) -> &ModelSession {
        &self.session
    }

    /// Index of `class` in the model's classes (the first class when `None`).
    pub fn class_index(&self, class: Option<&str>) -> Result<i64, GenerateError> {
        let Some(class) = class else { return Ok(0) };
        self.contract
            .classes
            .iter()
            .position(|c| c == class)
            .map(|i| i as i64)
            .ok_or_else(|| GenerateError::UnknownClass {
                model: self.name.clone(),
                class: class.to_owned(),
                available: self.contract.classes.clone(),
            })
    }

    /// The latent shape (batch of one) for an output of `size`, or why that size is impossible.
    pub fn latent_shape(&self, size: Option<(u32, u32)>) -> Result<Vec<i64>, GenerateError> {
        let channels = match self.latent_shape.get(1) {
            Some(Dim::Fixed(z)) => *z,
            _ => {
                return Err(GenerateError::NotAnImageModel {
                    model: self.name.clone(),
                });
            }
        };
        let size_error = |(width, height): (u32, u32), reason: String| GenerateError::Size {
            model: self.name.clone(),
            width,
            height,
            reason,
        };
        match (self.contract.stride, size) {
            (Some(stride), Some(size)) => {
                let (width, height) = self.art_size(size, 1)?;
                Ok(vec![
                    1,
                    channels,
                    i64::from(height / stride),
                    i64::from(width / stride),
                ])
            }
            (Some(stride), None) => Err(size_error(
                (0, 0),
                format!("this model has no fixed size: give a size that is a multiple of {stride}"),
            )),
            (None, requested) => match (requested, self.fixed_size) {
                (Some(req), Some(fixed)) if req != fixed => Err(size_error(
                    req,
                    format!("this model only makes {}x{}", fixed.0, fixed.1),
                )),
                _ => Ok(vec![1, channels]),
            },
        }
    }

    /// The size the model draws for an output of `size` whose art pixels are shown as
    /// `scale`×`scale` blocks: `size / scale`, or why that is impossible (each side must be a
    /// positive multiple of the model's stride × scale).
    pub fn art_size(
        &self,
        (width, height): (u32, u32),
        scale: u32,
    ) -> Result<(u32, u32), GenerateError> {
        let stride = self.contract.stride.unwrap_or(1);
        let step = stride * scale.max(1);
        if width == 0 || height == 0 || width % step != 0 || height % step != 0 {
            let round = |v: u32| (v / step).max(1) * step;
            let multiple = if scale > 1 {
                format!("{step} (the model's stride {stride} × scale {scale})")
            } else {
                format!("the model's stride {stride}")
            };
            return Err(GenerateError::Size {
                model: self.name.clone(),
                width,
                height,
                reason: format!(
                    "each side must be a multiple of {multiple} (nearest: {}x{})",
                    round(width),
                    round(height)
                ),
            });
        }
        Ok((width / scale.max(1), height / scale.max(1)))
    }

    /// Generates one image; the same request and model bytes give the same pixels on CPU.
    pub fn generate(&self, request: &ImageRequest) -> Result<DynamicImage, GenerateError> {
        let mut images = self.generate_batch(request.size, std::slice::from_ref(request))?;
        images
            .pop()
            .ok_or_else(|| self.run_error("the model returned no image"))
    }

    /// Generates one image per request (each from its own seed and class, all of `size`) in
    /// as few `session.run` calls as [`Self::batch_size`] allows: the same pixels as one
    /// [`Self::generate`] per request on CPU, at less cost per image.
    pub fn generate_batch(
        &self,
        size: Option<(u32, u32)>,
        requests: &[ImageRequest],
    ) -> Result<Vec<DynamicImage>, GenerateError> {
        let shape = self.latent_shape(size)?;
        let mut images = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(self.batch_size(size)) {
            let drawn = self.draw(&shape, chunk)?;
            images.par_extend(
                drawn
                    .into_par_iter()
                    .map(|(image, class)| self.paint(image, class)),
            );
        }
        Ok(images)
    }

    /// One `session.run` over `chunk` (latents of `shape`, batch of one): each image as the
    /// network drew it, with its class index, for [`Self::paint`].
    fn draw(
        &self,
        shape: &[i64],
        chunk: &[ImageRequest],
    ) -> Result<Vec<(DynamicImage, i64)>, GenerateError> {
        let len = shape.iter().product::<i64>() as usize;
        let latents = chunk
            .iter()
            .flat_map(|request| gaussian(request.seed, len))
            .collect();
        let classes: Vec<i64> = chunk
            .iter()
            .map(|request| self.class_index(request.class.as_deref()))
            .collect::<Result<_, _>>()?;
        let images = self.run(shape, latents, classes.clone())?;
        Ok(images.into_iter().zip(classes).collect())
    }

    /// `image` of class `class` in the model's art palette for that class, when it has one:
    /// post-processing, so [`Self::generate_each`] runs it beside the next batch's inference.
    fn paint(&self, mut image: DynamicImage, class: i64) -> DynamicImage {
        let palette = self.palettes.as_ref().and_then(|p| p.class(class as usize));
        if let Some(palette) = palette {
            palette.apply(&mut image);
        }
        image
    }

    /// Generates `requests` (all of `size`) in batches and hands each image to `finish` on
    /// rayon's thread pool, so one batch's post-processing overlaps the next batch's
    /// inference; returns what `finish` made, in request order.
    pub fn generate_each<T: Send>(
        &self,
        size: Option<(u32, u32)>,
        requests: &[ImageRequest],
        finish: impl Fn(&ImageRequest, DynamicImage) -> T + Sync,
    ) -> Result<Vec<T>, GenerateError> {
        let shape = self.latent_shape(size)?;
        let batch = self.batch_size(size);
        let finish = &finish;
        let mut slots: Vec<Option<T>> = requests.iter().map(|_| None).collect();
        rayon::scope(|scope| {
            let mut rest = slots.as_mut_slice();
            for chunk in requests.chunks(batch) {
                let drawn = self.draw(&shape, chunk)?;
                let (now, later) = std::mem::take(&mut rest).split_at_mut(chunk.len());
                rest = later;
                for ((slot, request), (image, class)) in now.iter_mut().zip(chunk).zip(drawn) {
                    scope.spawn(move |_| *slot = Some(finish(request, self.paint(image, class))));
                }
            }
            Ok::<_, GenerateError>(())
        })?;
        // The scope waited for every task: each slot is filled.
        Ok(slots.into_iter().flatten().collect())
    }

    /// Images per `session.run` for outputs of `size`: as many as fit in
    /// [`MAX_BATCH_PIXELS`], at most [`MAX_BATCH`], at least one (exactly one for a model
    /// exported with a fixed batch size).
    pub fn batch_size(&self, size: Option<(u32, u32)>) -> usize {
        if matches!(self.latent_shape.first(), Some(Dim::Fixed(_))) {
            return 1; // exported for a batch of one
        }
        let (width, height) = size.or(self.fixed_size).unwrap_or((1, 1));
        let pixels = (u64::from(width) * u64::from(height)).max(1);
        ((MAX_BATCH_PIXELS / pixels) as usize).clamp(1, MAX_BATCH)
    }

    /// Generates one image from a given latent (row-major, of [`Self::latent_shape`] for
    /// `size`) instead of a seeded one: for checks such as a texture model's shift
    /// equivariance, and for callers that choose latents themselves.
    pub fn generate_from_latent(
        &self,
        latent: Vec<f32>,
        size: Option<(u32, u32)>,
        class: Option<&str>,
    ) -> Result<DynamicImage, GenerateError> {
        let class = self.class_index(class)?;
        let shape = self.latent_shape(size)?;
        let len = shape.iter().product::<i64>() as usize;
        if latent.len() != len {
            return Err(self.run_error(format!(
                "latent has {} values, shape {shape:?} needs {len}",
                latent.len()
            )));
        }
        let mut images = self.run(&shape, latent, vec![class])?;
        let image = images
            .pop()
            .ok_or_else(|| self.run_error("the model returned no image"))?;
        Ok(self.paint(image, class))
    }

    /// One `session.run` over a batch: `latents` holds one latent of `shape` (batch of one)
    /// per class in `classes`.
    fn run(
        &self,
        shape: &[i64],
        latents: Vec<f32>,
        classes: Vec<i64>,
    ) -> Result<Vec<DynamicImage>, GenerateError> {
        let run_error = |err: ort::Error| self.run_error(err);
        let batch = classes.len();
        let mut shape = shape.to_vec();
        shape[0] = batch as i64;
        let mut inputs: Vec<(&str, DynValue)> = vec![(
            self.contract.latent.as_str(),
            Tensor::from_array((shape, latents))
                .map_err(run_error)?
                .into_dyn(),
        )];
        if let Some(class_input) = &self.contract.class_input {
            let classes = Tensor::from_array(([batch as i64], classes)).map_err(run_error)?;
            inputs.push((class_input.as_str(), classes.into_dyn()));
        }
        for constant in &self.constants {
            inputs.push((
                constant.name.as_str(),
                constant.tensor(batch).map_err(run_error)?,
            ));
        }
        let mut session = self.session.lock();
        let outputs = self
            .run_clock
            .time(|| session.run(inputs))
            .map_err(run_error)?;
        let output = &outputs[self.contract.output.as_str()];
        let (shape, values) = if self.output_dtype == ElementType::U8 {
            let (shape, values) = output.try_extract_tensor::<u8>().map_err(run_error)?;
            (shape, values.iter().map(|&v| f32::from(v)).collect())
        } else {
            let (shape, values) = output.try_extract_tensor::<f32>().map_err(run_error)?;
            (shape, values.to_vec())
        };
        let mut dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        if dims.first() != Some(&batch) || values.is_empty() {
            return Err(self.run_error(format!("output has shape {dims:?} for a batch of {batch}")));
        }
        dims[0] = 1;
        values
            .chunks_exact(values.len() / batch)
            .map(|image| self.to_image(&dims, image))
            .collect()
    }

    fn run_error(&self, message: impl std::fmt::Display) -> GenerateError {
        GenerateError::Run {
            model: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// Maps a `[1, C, H, W]` (or, in `Nhwc` layout, `[1, H, W, C]`) tensor in the declared
    /// value range to 8-bit pixels.
    fn to_image(&self, dims: &[usize], values: &[f32]) -> Result<DynamicImage, GenerateError> {
        let channels = self.contract.channels.count();
        let (channel_axis, height_axis, width_axis) = self.contract.layout.axes();
        if dims.len() != 4 || dims[0] != 1 || values.len() != dims.iter().product::<usize>() {
            return Err(GenerateError::Run {
                model: self.name.clone(),
                message: format!(
                    "output has shape {dims:?}, expected one image of {channels} channels in \
                     layout {:?}",
                    self.contract.layout
                ),
            });
        }
        let (c, height, width) = (dims[channel_axis], dims[height_axis], dims[width_axis]);
        let non_finite = values.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            return Err(GenerateError::NonFinite {
                model: self.name.clone(),
                count: non_finite,
            });
        }
        let plane = height * width;
        let (low, high) = self.contract.value_range;
        let scale = 255.0 / (high - low);
        let to_byte = |value: f32| ((value - low) * scale).round().clamp(0.0, 255.0) as u8;
        let mut pixels = vec![0_u8; plane * channels];
        for channel in 0..c.min(channels) {
            match self.contract.layout {
                ImageLayout::Nchw => {
                    let values = &values[channel * plane..(channel + 1) * plane];
                    for (i, value) in values.iter().enumerate() {
                        pixels[i * channels + channel] = to_byte(*value);
                    }
                }
                ImageLayout::Nhwc => {
                    for (i, pixel) in values.chunks_exact(c).enumerate() {
                        pixels[i * channels + channel] = to_byte(pixel[channel]);
                    }
                }
            }
        }
        let (w, h) = (width as u32, height as u32);
        let image = match self.contract.channels {
            ChannelLayout::Grey => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
            ChannelLayout::Rgb => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
            ChannelLayout::Rgba => RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        };
        image.ok_or_else(|| GenerateError::Run {
            model: self.name.clone(),
            message: format!("output of {c} channels does not fill a {w}x{h} image"),
        })
    }
}
