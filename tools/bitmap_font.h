/* A tiny built-in 5x7 bitmap font for labels drawn into PNG images (no font files):
 * digits, A-Z (lower case is drawn as upper case), space and % . : > < , ( ) - / = + #. */
#ifndef MT_TOOLS_BITMAP_FONT_H
#define MT_TOOLS_BITMAP_FONT_H

#include "mytorch/image.h"

#define FONT_W 5 /* glyph size in font pixels; characters advance FONT_W + 1 */
#define FONT_H 7

/* Width in image pixels of text drawn at scale (each font pixel scale x scale). */
int font_text_width(const char *text, int scale);
/* Draws text with its top-left corner at (x, y) in colour rgb (RGB or RGBA images; grey
 * images get the mean of rgb). Pixels outside the image are skipped; characters the font
 * lacks are drawn as a hollow box. */
void font_draw_text(mt_image *img, int x, int y, int scale, const uint8_t rgb[3], const char *text);

#endif
